"""Notifications: what is sent about a change, and the channels that send it.

A ``Notification`` is rendered once per channel from a template (see
``notify.templates``) and handed to a ``Channel`` plugin, which delivers it
and says how that went in a ``Delivery``: whether it arrived, and when it
did not, whether trying again can help.
"""
