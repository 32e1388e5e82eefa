from pipeline.bench.run import main

main()
