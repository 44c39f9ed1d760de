"""Built-in scenarios (scenario.toml + Jinja templates), shipped inside the wheel as promptrec.prompts."""
