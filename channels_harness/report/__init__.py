"""The results model (versioned ``data.json``) and what renders it."""
