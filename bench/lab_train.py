"""The lab's own ``train.py``, as its report shows it: the baseline of ``whole_process.py``.

    python bench/lab_train.py -z 8 -e 10 -b 2048 -s MLP.8.pth -p loss.MLP.8.png

torchvision's MNIST under ./data with ``ToTensor``, a shuffling ``DataLoader``, the 4-layer MLP,
Xavier-uniform weights and 0.01 biases, Adam (1e-3, weight decay 1e-5), ``ReduceLROnPlateau``,
mean MSE, the weights saved every epoch and the loss curve plotted once at the end. Nothing of this
package is imported: this is what a student's script costs as a whole process.
"""

import argparse
import datetime

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import MNIST


class autoencoderMLP4Layer(nn.Module):  # noqa: N801 - the lab's name
    def __init__(self, N_input=784, N_bottleneck=8, N_output=784):  # noqa: N803
        super().__init__()
        N2 = 392  # noqa: N806
        self.fc1 = nn.Linear(N_input, N2)
        self.fc2 = nn.Linear(N2, N_bottleneck)
        self.fc3 = nn.Linear(N_bottleneck, N2)
        self.fc4 = nn.Linear(N2, N_output)
        self.type = "MLP4"
        self.input_shape = (1, 28 * 28)

    def forward(self, X):  # noqa: N803
        return self.decode(self.encode(X))

    def encode(self, X):  # noqa: N803
        return F.relu(self.fc2(F.relu(self.fc1(X))))

    def decode(self, X):  # noqa: N803
        return torch.sigmoid(self.fc4(F.relu(self.fc3(X))))


def init_weights(m):
    if type(m) == nn.Linear:  # noqa: E721 - the lab's test
        torch.nn.init.xavier_uniform_(m.weight)
        m.bias.data.fill_(0.01)


def train(n_epochs, optimizer, model, loss_fn, train_loader, scheduler, device, save_file=None, plot_file=None):
    print("training ...")
    model.train()
    losses_train = []
    for epoch in range(1, n_epochs + 1):
        print("epoch ", epoch)
        loss_train = 0.0
        for data in train_loader:
            imgs = data[0]
            imgs = imgs.view(imgs.shape[0], -1)
            imgs = imgs.to(device=device)
            outputs = model(imgs)
            loss = loss_fn(outputs, imgs)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_train += loss.item()
        scheduler.step(loss_train)
        losses_train += [loss_train / len(train_loader)]
        print(f"{datetime.datetime.now()} Epoch {epoch}, Training loss {loss_train / len(train_loader)}")
        if save_file is not None:
            torch.save(model.state_dict(), save_file)
    # Plotted once, after the last epoch: the cheapest reading of the report, so the baseline
    # is not slowed by a figure per epoch.
    if plot_file is not None:
        plt.figure(2, figsize=(12, 7))
        plt.clf()
        plt.plot(losses_train, label="train")
        plt.xlabel("epoch")
        plt.ylabel("loss")
        plt.legend(loc=1)
        print("saving ", plot_file)
        plt.savefig(plot_file)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-z", type=int, default=8)
    parser.add_argument("-e", type=int, default=50)
    parser.add_argument("-b", type=int, default=2048)
    parser.add_argument("-s", default=None)
    parser.add_argument("-p", default=None)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print("Using device:", device)
    train_set = MNIST("./data", train=True, download=True, transform=transforms.Compose([transforms.ToTensor()]))
    train_loader = DataLoader(train_set, args.b, shuffle=True)
    model = autoencoderMLP4Layer(N_input=784, N_bottleneck=args.z, N_output=784)
    model.to(device)
    model.apply(init_weights)
    optimizer = optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")
    loss_fn = nn.MSELoss(size_average=None, reduce=None, reduction="mean")
    train(args.e, optimizer, model, loss_fn, train_loader, scheduler, device, args.s, args.p)


if __name__ == "__main__":
    main()
