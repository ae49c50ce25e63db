import type { Level, Prediction } from "../live/messages";
import { price, size } from "../ui/format";

/**
 * The order book around the touch: asks above (best at the bottom), bids below, depth bars
 * scaled to the largest size shown. Falls back to best bid / ask / mid when the prediction
 * carries no ladder.
 */
export function BookLadder({ prediction, levels = 10 }: { prediction: Prediction | null; levels?: number }) {
  if (!prediction) {
    return <TopOfBook bid={null} ask={null} mid={null} />;
  }
  const book = prediction.book;
  if (!book || (!book.asks?.length && !book.bids?.length)) {
    return <TopOfBook bid={prediction.best_bid} ask={prediction.best_ask} mid={prediction.mid} />;
  }
  const asks = book.asks.slice(0, levels);
  const bids = book.bids.slice(0, levels);
  const maxSize = Math.max(...asks.map((l) => l[1]), ...bids.map((l) => l[1]), 1e-12);
  const spread = prediction.best_ask - prediction.best_bid;
  const row = (side: "ask" | "bid", [px, sz]: Level, i: number) => (
    <tr className={side} key={`${side}-${i}`}>
      <td className="px">
        <span>{price(px)}</span>
      </td>
      <td>
        <span className="depth" style={{ width: `${(sz / maxSize) * 100}%` }} aria-hidden="true" />
        <span>{size(sz)}</span>
      </td>
    </tr>
  );
  return (
    <table className="ladder" aria-label={`Order book, ${levels} levels`}>
      <thead>
        <tr>
          <th scope="col">Price</th>
          <th scope="col">Size</th>
        </tr>
      </thead>
      <tbody>
        {[...asks].reverse().map((l, i) => row("ask", l, i))}
        <tr className="spread">
          <td colSpan={2}>
            Spread {price(spread, prediction.mid)} · mid {price(prediction.mid)}
          </td>
        </tr>
        {bids.map((l, i) => row("bid", l, i))}
      </tbody>
    </table>
  );
}

function TopOfBook({ bid, ask, mid }: { bid: number | null; ask: number | null; mid: number | null }) {
  return (
    <div className="tob">
      <div className="cell">
        <div className="k">Best bid</div>
        <div className="v" style={{ color: "var(--up)" }} data-testid="best-bid">
          {price(bid)}
        </div>
      </div>
      <div className="cell">
        <div className="k">Mid</div>
        <div className="v" data-testid="mid">
          {price(mid)}
        </div>
      </div>
      <div className="cell">
        <div className="k">Best ask</div>
        <div className="v" style={{ color: "var(--down)" }} data-testid="best-ask">
          {price(ask)}
        </div>
      </div>
    </div>
  );
}
