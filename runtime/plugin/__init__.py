"""The plugin protocol (`Plugin`, `EntityHooks`, `Check`, `Command`) and the registry that finds plugins.

A leaf package: it imports no other runtime package, so the generator, the runtime and plugins
may all import it.
"""
from specadmin.runtime.plugin.events import Call, JobCall, RuleCall, WriteEvent
from specadmin.runtime.plugin.protocol import (
           AppOptions,
           Check,
           Command,
           EntityHooks,
           Plugin,
)
from specadmin.runtime.plugin.registry import PluginError, PluginSet, installed
from specadmin.runtime.plugin.spec_view import Section, SpecView

__all__ = ["AppOptions", "Call", "Check", "Command", "EntityHooks", "JobCall", "Plugin", "PluginError", "PluginSet",
           "RuleCall", "Section", "SpecView", "WriteEvent", "installed"]
