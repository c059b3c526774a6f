"""The words Typer's help panels print through the standard gettext, marked for our catalog.

:func:`procops.i18n.use_for_libraries` lets Typer find them in it, so ``procops --help``
reads in the operator's language. The text must stay exactly Typer's own (typer/rich_utils.py);
nothing imports this module. The messages of Typer's bundled Click are plain English strings:
:mod:`procops.cli.help` translates those that people meet (usage errors, the help option).
"""

from procops.i18n import N_

MESSAGES = (
    N_("(deprecated) "),
    N_("[default: {}]"),
    N_("[env var: {}]"),
    N_("[required]"),
    N_("Arguments"),
    N_("Options"),
    N_("Commands"),
    N_("Error"),
    N_("Aborted."),
    N_("Try [blue]'{command_path} {help_option}'[/] for help."),
)
