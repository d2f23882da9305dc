"""The Telegram adapter of the news retrieval engine (``newsbot``).

It imports :mod:`retrieval`, never the reverse: updates become questions, the engine answers
off the event loop, :mod:`bot.render` turns answers into Telegram HTML. Entry point:
:func:`bot.app.build_application`; command: ``newsbot`` / ``python -m bot``.
"""
