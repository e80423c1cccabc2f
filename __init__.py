"""specadmin: a configuration-driven admin generator for government data systems."""
