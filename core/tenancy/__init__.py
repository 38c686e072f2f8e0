"""Tenants and what they configure: organizations, users and memberships, mail servers, domains
with their DNS checks, track domains, credentials, API tokens and IP pools."""
