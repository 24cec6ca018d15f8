"""Documents submitted as JSON: validation, sanitization, storage and the DocumentIngested event."""
