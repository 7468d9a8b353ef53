from autotuner.cli.main import main

if __name__ == "__main__":  # not when a spawned client process (bench.workers) imports it
    main()
