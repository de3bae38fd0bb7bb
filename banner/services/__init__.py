"""One function per use case; each owns its transaction and raises domain errors, those a person
may see a banner.errors.ServiceError (code, message for the person, HTTP status)."""
