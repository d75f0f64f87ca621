"""Background jobs: boot (Services without a Flask app), broker, middleware, thin actors, relay, supervisor."""
