from productsync.cli import main

main()
