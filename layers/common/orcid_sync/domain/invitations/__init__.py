"""Invitation campaigns: emailing researchers their personal connect link, reminders, and what became of them."""
