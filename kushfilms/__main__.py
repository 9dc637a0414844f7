from kushfilms.cli import main

main()
