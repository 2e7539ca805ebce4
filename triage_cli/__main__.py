from triage_cli.cli import main

main()
