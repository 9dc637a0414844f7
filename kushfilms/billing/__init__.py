"""Plans, subscriptions and who may watch what."""
