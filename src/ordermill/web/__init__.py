"""HTTP entry point: the FastAPI app, its routers and the error mapping."""
