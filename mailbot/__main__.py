from mailbot.cli import main

# Guarded: worker processes (mailbot/ahead.py) may import this module.
if __name__ == "__main__":
    raise SystemExit(main())
