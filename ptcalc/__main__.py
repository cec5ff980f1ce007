"""``python -m ptcalc`` runs the command-line interface."""

from ptcalc.cli import main

if __name__ == "__main__":
    main()
