"""Identity and access backbone (系统管理, requirements §4.9): password policy and lockout,
role validity and role groups, org-admin scopes, function security policies, API/URL
resources, administrative divisions, saved searches and the custom-action handlers of the
built-in system screens. The spec side lives in specs/system/system.yaml.
"""
