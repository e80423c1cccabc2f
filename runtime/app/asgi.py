"""ASGI entry point for `specadmin serve` workers: the app directory comes from the environment."""
import os

from specadmin.runtime.app.factory import create_app

app = create_app(os.environ["SPECADMIN_APP_DIR"])
