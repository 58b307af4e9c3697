"""Edge caching from data: miss-ratio curves, hot objects and prefixes, and cache sizing."""
