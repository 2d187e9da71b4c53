"""Result records: schema, run key, atomic writes, and scanning the results folder."""
