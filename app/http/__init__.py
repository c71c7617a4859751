"""The HTTP layer: blueprints with thin views, problem documents, sign-in, CORS and the API docs."""
