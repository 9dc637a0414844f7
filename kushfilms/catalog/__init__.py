"""Movies, categories and search."""
