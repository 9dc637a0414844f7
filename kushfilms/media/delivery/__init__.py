"""Delivery: who may watch what, the signed grants in media URLs, and the files
handed out under them."""
