"""faq capability."""
