"""Exports of list screens to .xlsx and .csv, in the request or as a background job."""
