"""Model-free pipeline stages (decode, source tags, acoustics, gates) and their helpers."""
