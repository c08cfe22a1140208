"""The template language of configuration: sandboxed Jinja2 for partner mappings and email messages.

Configuration checks templates when it is applied, and the channels render them for every lead, so this
package sits below both (``leadrelay.configuration`` and ``leadrelay.adapters`` import it; it imports only
``leadrelay.domain`` and Jinja2). It does no I/O.
"""
