"""Messaging: deciding, rendering and sending one message per milestone, kind and shopper."""
