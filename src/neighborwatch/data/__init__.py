"""Raw logs in, canonical events and labels out."""
