from quietline.cli import main

main()
