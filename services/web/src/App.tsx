import { Navigate, NavLink, Route, Routes } from "react-router";
import logo from "./assets/logo.svg";
import { LiveProvider } from "./live/LiveProvider";
import { PredictPage } from "./predict/PredictPage";
import { SessionProvider } from "./session/SessionProvider";
import { ComparePage } from "./train/ComparePage";
import { TrainPage } from "./train/TrainPage";
import { ConnectionBadge } from "./ui/ConnectionBadge";
import { HealthBanner } from "./ui/HealthBanner";

export function App() {
  return (
    <SessionProvider>
      <LiveProvider>
        <a href="#main" className="skip-link">
          Skip to content
        </a>
        <header className="topbar">
          <div className="topbar-inner">
            <NavLink to="/predict" className="brand" aria-label="DeepLOB Hub home">
              <img src={logo} alt="" className="brand-mark" />
              <span className="brand-text">DeepLOB Hub</span>
            </NavLink>
            <nav className="nav" aria-label="Main">
              <NavLink to="/predict">Predict</NavLink>
              <NavLink to="/train">Train</NavLink>
            </nav>
            <div className="topbar-end">
              <ConnectionBadge />
            </div>
          </div>
        </header>
        <HealthBanner />
        <main id="main">
          <Routes>
            <Route path="/" element={<Navigate to="/predict" replace />} />
            <Route path="/predict" element={<PredictPage />} />
            <Route path="/train" element={<TrainPage />} />
            <Route path="/train/compare" element={<ComparePage />} />
            <Route path="*" element={<Navigate to="/predict" replace />} />
          </Routes>
        </main>
      </LiveProvider>
    </SessionProvider>
  );
}
