from autotuner.cli.main import main

main()
