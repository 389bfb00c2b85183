"""The lab's demo script: python lab1.py -l MLP.8.pth"""

from aelab.launch import run_script

if __name__ == "__main__":
    run_script("lab", prog="lab1.py")
