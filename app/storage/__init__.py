"""The model repository on disk: its layout, model.json and serving.json, scanning and atomic publishing."""
