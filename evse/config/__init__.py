"""Configuration: one TOML file, validated against typed settings structs (see `evse.config.meta`)."""
