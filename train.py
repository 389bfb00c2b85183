"""The lab's training script: python train.py -z 8 -e 50 -b 2048 -s MLP.8.pth -p loss.MLP.8.png"""

from aelab.launch import run_script

if __name__ == "__main__":
    run_script("train", prog="train.py")
