"""dramatiq broker set-up and actors (send, deliver, housekeeping)."""
