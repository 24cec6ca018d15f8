"""Shared building blocks of the docflow services: settings, events, envelope, clients, health."""
