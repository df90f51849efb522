"""Model files: where they live, how they are checked, imported and converted."""
