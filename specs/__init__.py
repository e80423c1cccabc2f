"""The spec language: JSON Schemas, the spec model, paths through refs, physical tables and the measure grammar."""
