"""Plugins shipped with specadmin (each a package with a `plugin.py`): `video`, `hotline`."""
