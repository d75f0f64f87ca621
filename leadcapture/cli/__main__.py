"""`python -m leadcapture.cli`: the same as the `leadcapture` command."""

from leadcapture.cli import main

main()
