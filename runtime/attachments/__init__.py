"""Attachments: the files of `type: file` fields, stored beside the rows they belong to."""
