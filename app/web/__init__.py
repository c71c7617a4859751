"""Pages for people: the landing page, prediction and CSV pages, and model cards."""
